"""What the demo's courses, categories, venues and trainers say, in English and
Simplified Chinese, each written for its own readers (issue 18).

Every translatable text is a ``{"en": ..., "zh": ...}`` dict and each record
names its ``original`` language: courses taught by a Chinese trainer in
Chinese were written in Chinese first, those of the German and British
trainers in English. A few records are deliberately one-language-only
(``MES-240`` in Chinese, ``FS-300`` and Hans Keller's biography in English,
the Stuttgart room in English) so that the "English only" / "仅中文" markers
show in the demo. Plain data: ``training.demo`` writes it into the models.
"""

from __future__ import annotations

from typing import TypedDict


class TrainerSpec(TypedDict):
    email: str
    name: str
    original: str  # the language the texts were written in first
    organisation: str
    expertise: str
    title: dict[str, str]  # language -> text
    bio: dict[str, str]


# slug, {"en", "zh"}; category names are written in both, the original is English.
CATEGORIES = [
    ("plc", {"en": "PLC programming", "zh": "PLC 编程"}),
    ("robotics", {"en": "Industrial robotics", "zh": "工业机器人"}),
    ("mes", {"en": "MES and production IT", "zh": "制造执行系统 (MES) 与生产信息化"}),
    ("iiot", {"en": "OPC UA and the Industrial IoT", "zh": "OPC UA 与工业物联网"}),
    ("vision", {"en": "Machine vision", "zh": "机器视觉"}),
    ("additive", {"en": "Additive manufacturing", "zh": "增材制造"}),
    ("safety", {"en": "Functional safety", "zh": "功能安全"}),
    ("lean", {"en": "Lean production and Industry 4.0", "zh": "精益生产与工业 4.0"}),
]

TRAINERS: list[TrainerSpec] = [
    {
        "email": "li.wei@demo.smt-academy.cn",
        "name": "李伟",
        "original": "zh",
        "organisation": "Suzhou Automation Institute",
        "expertise": "PLC, IEC 61131-3, Siemens TIA Portal, Structured Text",
        "title": {"en": "Senior Automation Engineer", "zh": "高级自动化工程师"},
        "bio": {
            "zh": "李伟拥有 15 年汽车零部件产线调试经验，先后为长三角地区的汽车零部件供应商调试了 60 多条生产线。"
            "他讲授的**结构化文本 (ST) 编程**和 PLC 程序架构完全来自现场：版本管理、调试前的仿真验证，"
            "以及操作工一看就懂的报警信息。",
            "en": "Li Wei has spent 15 years commissioning lines for automotive suppliers in the Yangtze River Delta – "
            "more than 60 of them. He teaches **Structured Text** and clean PLC architecture the way they are "
            "used on real lines: with version control, simulation before commissioning and alarms that "
            "operators understand.",
        },
    },
    {
        "email": "anna.mueller@demo.smt-academy.de",
        "name": "Anna Müller",
        "original": "en",
        "organisation": "Rhein-Main Robotics GmbH",
        "expertise": "Industrial robots, KUKA, ABB RobotStudio, Collaborative robots, ISO 10218",
        "title": {"en": "Robotics Application Lead", "zh": "机器人应用负责人"},
        "bio": {
            "en": "Anna leads robot application projects for welding and palletising cells. In her hands-on sessions "
            "on real cells she brings offline programming, safety configuration and cycle-time optimisation "
            "together.\n\n- Certified KUKA and ABB instructor\n- 12 years of cell integration",
            "zh": "Anna 负责焊接与码垛工作站的机器人应用项目。她的课程在真实工作站上进行，把离线编程、安全配置"
            "与节拍优化结合在一起讲透。\n\n- KUKA 与 ABB 认证培训师\n- 12 年机器人工作站集成经验",
        },
    },
    {
        "email": "zhang.min@demo.smt-academy.cn",
        "name": "张敏",
        "original": "zh",
        "organisation": "East China Smart Factory Alliance",
        "expertise": "MES, ISA-95, Traceability, OEE",
        "title": {"en": "MES Architect", "zh": "MES 架构师"},
        "bio": {
            "zh": "张敏主导过多个离散制造企业的 MES 项目，熟悉 ISA-95 模型、生产追溯与 OEE 分析。她用真实工厂的数据"
            "讲解 MES，学员结课时带走一份下周一就能用的上线检查清单。",
            "en": "Zhang Min has led MES projects at several discrete manufacturers and knows ISA-95, traceability "
            "and OEE analysis inside out. She explains MES with the data of real plants and leaves you with a "
            "go-live checklist you can use on Monday.",
        },
    },
    {
        "email": "oliver.grant@demo.smt-academy.com",
        "name": "Oliver Grant",
        "original": "en",
        "organisation": "Grant Industrial Connectivity",
        "expertise": "OPC UA, MQTT, Sparkplug B, Edge computing, Cybersecurity IEC 62443",
        "title": {"en": "IIoT Consultant", "zh": "工业物联网顾问"},
        "bio": {
            "en": "Oliver has connected brownfield plants on three continents. His courses cover OPC UA information "
            "models, secure channels and certificates, and bringing shop-floor data to the cloud without "
            "opening the firewall.",
            "zh": "Oliver 曾在三大洲为在役老厂完成设备联网。他的课程涵盖 OPC UA 信息建模、安全通道与证书管理，"
            "以及如何在不开放防火墙的前提下把车间数据送上云端。",
        },
    },
    {
        "email": "chen.jing@demo.smt-academy.cn",
        "name": "陈静",
        "original": "zh",
        "organisation": "Shenzhen Vision Lab",
        "expertise": "Machine vision, Halcon, Deep learning inspection, Lighting and optics",
        "title": {"en": "Machine Vision Specialist", "zh": "机器视觉专家"},
        "bio": {
            "zh": "陈静专注于 3C 电子行业的视觉检测，精通光源与镜头选型以及基于深度学习的缺陷检测。她的实验课"
            "从光学讲起，因为大多数检测难题在写第一行代码之前就已经解决了。",
            "en": "Chen Jing specialises in visual inspection for consumer electronics, from choosing lights and "
            "lenses to deep-learning defect detection. Her labs start with optics, because most inspection "
            "problems are solved before the first line of code.",
        },
    },
    {
        # English only on purpose: the Chinese pages show his biography with the "English only" marker.
        "email": "hans.keller@demo.smt-academy.de",
        "name": "Hans Keller",
        "original": "en",
        "organisation": "Keller Safety Consulting",
        "expertise": "IEC 61508, ISO 13849, IEC 62061, Risk assessment",
        "title": {"en": "Functional Safety Engineer (TÜV)", "zh": "功能安全工程师（TÜV 认证）"},
        "bio": {
            "en": "Hans has assessed safety functions for machine builders for 20 years. He teaches PL and SIL "
            "calculations with worked examples from presses, robots and conveyors.",
            "zh": "",
        },
    },
]

# The course outline every description ends with, per language.
_PRACTICE = {
    "en": "Every session mixes short explanations with exercises on real equipment.",
    "zh": "课程以实操为主，每节课都在真实设备上练习。",
}


def _course(
    code, category, level, hours, language, original, validity, title, summary, body, outcomes, prerequisites, audience
) -> dict:
    """One course; ``body`` is the description's first paragraph per language."""
    description = {lang: (f"{text}\n\n{_PRACTICE[lang]}" if text else "") for lang, text in body.items()}
    return {
        "code": code,
        "category": category,
        "level": level,
        "hours": hours,
        "language": language,
        "original": original,
        "validity_months": validity,
        "title": title,
        "summary": summary,
        "description": description,
        "outcomes": outcomes,
        "prerequisites": prerequisites,
        "audience": audience,
    }


COURSES = [
    _course(
        "PLC-101",
        "plc",
        "beginner",
        16,
        "zh",
        "zh",
        None,
        {"zh": "基于 IEC 61131-3 的 PLC 编程基础", "en": "PLC programming fundamentals with IEC 61131-3"},
        {
            "zh": "在西门子 S7-1500 上学习梯形图、功能块与结构化文本，从第一条梯级写到一段经过测试的顺序控制程序。",
            "en": "Ladder logic, function blocks and Structured Text on a Siemens S7-1500, from the first rung to a "
            "tested sequence.",
        },
        {
            "zh": "本课程面向刚接触 PLC 的工程师和技术员，系统讲解 IEC 61131-3 的五种编程语言中最常用的三种，"
            "并在 TIA Portal 中完成一个小型输送线的控制程序。",
            "en": "For engineers and technicians new to PLCs: the three most used of the five IEC 61131-3 languages, "
            "applied to a small conveyor line programmed in TIA Portal.",
        },
        {
            "zh": "- 独立创建 TIA Portal 项目并完成硬件组态\n- 用梯形图和功能块图编写基本逻辑\n"
            "- 编写并测试一段简单的顺序控制程序",
            "en": "- Set up a TIA Portal project and its hardware configuration\n"
            "- Write basic logic in ladder and function block diagram\n- Write and test a simple sequence",
        },
        {"zh": "具备电工基础知识；自带笔记本电脑。", "en": "Basic electrical knowledge; bring a laptop."},
        {
            "zh": "生产、设备维护与自动化部门的工程师和技术员。",
            "en": "Engineers and technicians from production, maintenance and automation.",
        },
    ),
    _course(
        "PLC-201",
        "plc",
        "intermediate",
        24,
        "en+zh",
        "zh",
        None,
        {"zh": "面向设备制造商的结构化文本 (ST) 编程", "en": "Structured Text (ST) programming for machine builders"},
        {
            "zh": "状态机、可复用功能块、单元测试与版本管理：把 PLC 程序当作软件来开发。",
            "en": "State machines, reusable function blocks, unit tests and version control for PLC code.",
        },
        {
            "zh": "设备越来越复杂，梯形图已经难以维护。本课程用结构化文本 (ST) 重写一台包装机的控制程序，"
            "讲解状态机设计、功能块封装、仿真测试以及基于 Git 的团队协作。",
            "en": "Machines grow, and ladder logic stops scaling. In this course you rewrite the control program of a "
            "packaging machine in Structured Text: state machine design, encapsulated function blocks, tests "
            "in simulation and team work with Git.",
        },
        {
            "zh": "- 用 ST 设计清晰的状态机\n- 封装可在多台设备上复用的功能块\n- 在仿真环境中为 PLC 代码编写单元测试",
            "en": "- Design clear state machines in ST\n- Build function blocks you can reuse across machines\n"
            "- Unit-test PLC code in simulation",
        },
        {"zh": "已完成 PLC-101 或具备同等经验。", "en": "PLC-101 or equivalent experience."},
        {
            "zh": "设备制造企业的 PLC 程序员和电气工程师。",
            "en": "PLC programmers and electrical engineers at machine builders.",
        },
    ),
    _course(
        "ROB-110",
        "robotics",
        "beginner",
        24,
        "zh",
        "zh",
        None,
        {"zh": "工业机器人操作与编程", "en": "Industrial robot operation and programming"},
        {
            "zh": "六轴机器人的手动操纵、坐标系、工具数据与安全编程，每节课都在真实工作站上完成。",
            "en": "Jogging, frames, tool data and safe programming of six-axis robots, with a real cell in every "
            "session.",
        },
        {
            "zh": "从示教器的基本操作开始，逐步掌握工具坐标系与工件坐标系的标定、点位示教和程序结构，"
            "最后独立完成一个搬运任务。",
            "en": "From the basics of the teach pendant to calibrating tool and work-object frames, teaching points "
            "and structuring programs, ending with a pick-and-place task you program on your own.",
        },
        {
            "zh": "- 安全地手动操纵机器人\n- 标定工具坐标系和工件坐标系\n- 编写并调试一个搬运程序",
            "en": "- Jog a robot safely\n- Calibrate tool and work-object frames\n- Write and debug a pick-and-place "
            "program",
        },
        {"zh": "无需机器人基础；请穿劳保鞋。", "en": "No robot experience needed; wear safety shoes."},
        {
            "zh": "操作工、设备维护人员和新入职的自动化工程师。",
            "en": "Operators, maintenance staff and automation engineers new to robots.",
        },
    ),
    _course(
        "ROB-230",
        "robotics",
        "advanced",
        16,
        "en",
        "en",
        None,
        {
            "en": "Offline programming and simulation with RobotStudio",
            "zh": "基于 RobotStudio 的工业机器人离线编程与仿真",
        },
        {
            "en": "Build a virtual cell, optimise cycle time and commission robot programs before the hardware "
            "arrives.",
            "zh": "搭建虚拟工作站、优化节拍，在设备到场之前完成机器人程序的虚拟调试。",
        },
        {
            "en": "Offline programming moves robot work from the shop floor to the desk. You model a welding cell in "
            "RobotStudio, generate paths from CAD, check reach and collisions, and hand a tested program to "
            "commissioning.",
            "zh": "离线编程把机器人编程工作从车间搬到办公桌。学员在 RobotStudio 中为一个焊接工作站建模，"
            "由 CAD 生成轨迹，检查可达性与碰撞，最终交付一份经过验证的程序用于现场调试。",
        },
        {
            "en": "- Model a robot cell from CAD data\n- Generate and optimise paths\n- Commission a program virtually",
            "zh": "- 基于 CAD 数据建立机器人工作站模型\n- 生成并优化运动轨迹\n- 完成程序的虚拟调试",
        },
        {"en": "ROB-110 or a year of robot programming.", "zh": "已完成 ROB-110 或具备一年机器人编程经验。"},
        {"en": "Robot programmers and simulation engineers.", "zh": "机器人程序员和仿真工程师。"},
    ),
    _course(
        "MES-120",
        "mes",
        "beginner",
        12,
        "en+zh",
        "en",
        None,
        {"en": "MES essentials: ISA-95, traceability and OEE", "zh": "制造执行系统 (MES) 基础：ISA-95、生产追溯与 OEE"},
        {
            "en": "What an MES does, how ISA-95 structures it, and how to measure OEE honestly.",
            "zh": "MES 能做什么、ISA-95 如何划分它的职能，以及如何实事求是地计算 OEE。",
        },
        {
            "en": "A clear map of production IT: which work belongs to ERP, MES and the control level, how orders, "
            "materials and quality data flow, and which numbers really tell you how a line performs.",
            "zh": "一张清晰的生产信息化地图：哪些工作属于 ERP、MES 和控制层，工单、物料与质量数据如何流转，"
            "哪些指标才能真实反映产线的表现。",
        },
        {
            "en": "- Place MES functions in the ISA-95 model\n- Design a traceability chain for a product\n"
            "- Calculate and interpret OEE",
            "zh": "- 在 ISA-95 模型中定位 MES 各项功能\n- 为一个产品设计追溯链\n- 计算并解读 OEE",
        },
        {"en": "None.", "zh": "无。"},
        {
            "en": "Production managers, process engineers and IT staff who work with the shop floor.",
            "zh": "生产经理、工艺工程师以及与车间打交道的 IT 人员。",
        },
    ),
    _course(
        # Chinese only on purpose: the English pages show it with the "Chinese only" marker.
        "MES-240",
        "mes",
        "advanced",
        16,
        "zh",
        "zh",
        None,
        {"zh": "在役工厂的 MES 落地实施", "en": ""},
        {"zh": "需求梳理、与 ERP 和 PLC 的集成、变革管理，以及在不停产的工厂里完成上线。", "en": ""},
        {
            "zh": "老厂改造最大的难点不是软件，而是在生产不停的情况下切换系统。本课程以一家汽车零部件企业的"
            "真实项目为案例，逐步讲解从需求调研到上线切换的全过程。",
            "en": "",
        },
        {"zh": "- 梳理并排序 MES 需求\n- 制定与 ERP、PLC 的接口方案\n- 编写不停产的上线切换计划", "en": ""},
        {"zh": "已完成 MES-120 或参与过 MES 项目。", "en": ""},
        {"zh": "MES 项目经理、实施顾问和工厂信息化负责人。", "en": ""},
    ),
    _course(
        "OPC-150",
        "iiot",
        "intermediate",
        16,
        "en",
        "en",
        None,
        {
            "en": "OPC UA from the ground up: information modelling and security",
            "zh": "OPC UA 入门：信息建模与安全通信",
        },
        {
            "en": "Information models, security policies, certificates and PubSub, with hands-on servers and clients.",
            "zh": "信息模型、安全策略、证书与 PubSub，动手搭建服务器与客户端。",
        },
        {
            "en": "OPC UA is more than a protocol: its information model describes what a machine is, not only "
            "which values it has. You model a filling machine with companion specifications, secure the "
            "connection with certificates and publish data over PubSub.",
            "zh": "OPC UA 不只是一种通信协议：它的信息模型描述的是一台设备“是什么”，而不仅仅是它有哪些数据。"
            "学员将基于行业配套规范 (Companion Specification) 为一台灌装机建立 OPC UA 信息模型，"
            "用证书保护连接，并通过 PubSub 发布数据。",
        },
        {
            "en": "- Build an OPC UA information model\n- Configure security policies and certificates\n"
            "- Publish data with PubSub",
            "zh": "- 建立 OPC UA 信息模型\n- 配置安全策略与证书\n- 使用 PubSub 发布数据",
        },
        {"en": "Basic networking; some programming helps.", "zh": "具备网络基础知识；有编程经验更佳。"},
        {"en": "Automation and IT engineers who connect machines.", "zh": "负责设备联网的自动化工程师和 IT 工程师。"},
    ),
    _course(
        "IOT-210",
        "iiot",
        "intermediate",
        12,
        "en+zh",
        "en",
        None,
        {
            "en": "IIoT edge architecture with MQTT and Sparkplug B",
            "zh": "基于 MQTT 与 Sparkplug B 的工业物联网边缘架构",
        },
        {
            "en": "Edge gateways, a unified namespace and secure data flows from the shop floor to analytics.",
            "zh": "边缘网关、统一命名空间 (UNS)，以及从车间到数据分析的安全数据流。",
        },
        {
            "en": "Point-to-point integrations do not scale. You design an edge layer that collects data from PLCs "
            "and OPC UA servers, publishes it to a unified namespace over MQTT with Sparkplug B, and keeps "
            "the plant network closed.",
            "zh": "点对点集成难以扩展。学员将设计一个边缘层：从 PLC 和 OPC UA 服务器采集数据，通过 MQTT 与 "
            "Sparkplug B 发布到统一命名空间，同时保持工厂网络的封闭与安全。",
        },
        {
            "en": "- Design a unified namespace\n- Configure an edge gateway\n- Secure MQTT with TLS and ACLs",
            "zh": "- 设计统一命名空间\n- 配置边缘网关\n- 使用 TLS 与访问控制列表保护 MQTT",
        },
        {"en": "OPC-150 or equivalent.", "zh": "已完成 OPC-150 或具备同等基础。"},
        {"en": "IIoT architects, automation and IT engineers.", "zh": "工业物联网架构师、自动化工程师与 IT 工程师。"},
    ),
    _course(
        "VIS-120",
        "vision",
        "beginner",
        16,
        "zh",
        "zh",
        None,
        {"zh": "机器视觉基础：光学、照明与检测", "en": "Machine vision basics: optics, lighting and inspection"},
        {
            "zh": "选择相机、镜头与光源，搭建稳定可靠的尺寸测量和有无检测。",
            "en": "Choose cameras, lenses and lights, and build robust measurement and presence inspections.",
        },
        {
            "zh": "一套视觉系统是否稳定，七成取决于光学和照明。课程从成像原理讲起，在实验台上对比不同光源与镜头的"
            "效果，最后完成一个连接器引脚的检测方案。",
            "en": "Whether a vision system is robust depends mostly on optics and lighting. Starting from how an "
            "image forms, you compare lights and lenses on the lab bench and finish with an inspection of "
            "connector pins.",
        },
        {
            "zh": "- 根据检测需求选择相机、镜头和光源\n- 搭建尺寸测量与有无检测\n- 评估检测系统的稳定性",
            "en": "- Choose camera, lens and light for a task\n- Set up measurement and presence checks\n"
            "- Judge how robust an inspection is",
        },
        {"zh": "无。", "en": "None."},
        {"zh": "质量工程师、工艺工程师和设备工程师。", "en": "Quality, process and equipment engineers."},
    ),
    _course(
        "VIS-310",
        "vision",
        "advanced",
        24,
        "en+zh",
        "zh",
        None,
        {"zh": "基于深度学习的视觉缺陷检测", "en": "Deep learning for visual defect inspection"},
        {
            "zh": "数据采集、标注、训练与验证：为生产线开发可靠的缺陷分类模型。",
            "en": "Data collection, labelling, training and validation of defect classifiers for production lines.",
        },
        {
            "zh": "传统算法难以应对外观缺陷的多样性。本课程用一条手机外壳检测线的真实数据，完整走一遍样本采集、"
            "标注规范、模型训练、验证与上线监控。",
            "en": "Classic algorithms struggle with the variety of cosmetic defects. With real data from a phone "
            "housing line you go through sample collection, labelling rules, training, validation and "
            "monitoring in production.",
        },
        {
            "zh": "- 制定样本采集与标注规范\n- 训练并验证缺陷分类模型\n- 设计模型上线后的监控方案",
            "en": "- Write sampling and labelling rules\n- Train and validate a defect classifier\n"
            "- Plan monitoring once the model is live",
        },
        {"zh": "已完成 VIS-120；具备 Python 基础。", "en": "VIS-120; basic Python."},
        {"zh": "视觉工程师和质量数据分析人员。", "en": "Vision engineers and quality data analysts."},
    ),
    _course(
        "AM-140",
        "additive",
        "intermediate",
        16,
        "en",
        "en",
        None,
        {"en": "Metal additive manufacturing for production", "zh": "面向批量生产的金属增材制造"},
        {
            "en": "Design for AM, process parameters, post-processing and quality assurance of laser powder bed "
            "fusion parts.",
            "zh": "面向增材制造的设计、工艺参数、后处理，以及激光粉末床熔融 (LPBF) 零件的质量保证。",
        },
        {
            "en": "From prototype to series part: when metal AM pays off, how to design for it, which parameters "
            "matter and how to qualify parts for production.",
            "zh": "从原型到批量零件：金属增材制造何时划算、如何面向增材制造进行设计、哪些工艺参数最关键，"
            "以及如何对量产零件进行质量认证。",
        },
        {
            "en": "- Judge whether a part suits metal AM\n- Design a part for laser powder bed fusion\n"
            "- Plan post-processing and inspection",
            "zh": "- 判断零件是否适合金属增材制造\n- 面向激光粉末床熔融设计零件\n- 制定后处理与检测方案",
        },
        {"en": "Basic CAD skills.", "zh": "具备 CAD 基础。"},
        {"en": "Design, process and quality engineers.", "zh": "设计工程师、工艺工程师与质量工程师。"},
    ),
    _course(
        "FS-200",
        "safety",
        "intermediate",
        16,
        "en+zh",
        "en",
        36,
        {"en": "Functional safety of machinery: ISO 13849 in practice", "zh": "机械功能安全：ISO 13849 实战"},
        {
            "en": "Risk assessment, PLr determination, SISTEMA calculations and validation of safety functions.",
            "zh": "风险评估、确定所需性能等级 (PLr)、使用 SISTEMA 计算，以及安全功能的验证。",
        },
        {
            "en": "Worked through on one machine from start to finish: assess the risks, specify the safety "
            "functions, calculate the performance level achieved in SISTEMA and validate it.",
            "zh": "以一台设备为例完整走一遍：评估风险、定义安全功能、在 SISTEMA 中计算实际达到的性能等级并完成验证。",
        },
        {
            "en": "- Carry out a risk assessment to ISO 12100\n- Determine PLr and design the safety function\n"
            "- Calculate and validate the PL in SISTEMA",
            "zh": "- 按 ISO 12100 开展风险评估\n- 确定 PLr 并设计安全功能\n- 在 SISTEMA 中计算并验证性能等级",
        },
        {"en": "Basic knowledge of machine control.", "zh": "具备设备控制基础知识。"},
        {
            "en": "Electrical designers, safety engineers and commissioning staff.",
            "zh": "电气设计人员、安全工程师和调试人员。",
        },
    ),
    _course(
        # English only on purpose: the Chinese pages show it with the "English only" marker.
        "FS-300",
        "safety",
        "advanced",
        24,
        "en",
        "en",
        36,
        {"en": "IEC 61508 and IEC 62061 for safety-related control systems", "zh": ""},
        {
            "en": "SIL determination, hardware fault tolerance and software requirements for safety-related control.",
            "zh": "",
        },
        {
            "en": "For engineers who design safety-related control systems to IEC 62061 and need to understand "
            "the IEC 61508 requirements behind it.",
            "zh": "",
        },
        {
            "en": "- Determine the required SIL\n- Check architectural constraints and hardware fault tolerance\n"
            "- Apply the software requirements",
            "zh": "",
        },
        {"en": "FS-200 or equivalent experience.", "zh": ""},
        {"en": "Safety engineers and assessors.", "zh": ""},
    ),
    _course(
        "LEAN-100",
        "lean",
        "beginner",
        8,
        "zh",
        "zh",
        None,
        {"zh": "面向班组长的精益生产与工业 4.0", "en": "Lean production and Industry 4.0 for team leaders"},
        {
            "zh": "价值流、标准作业，以及数字化工具在哪些地方真正有用、在哪些地方没用。",
            "en": "Value streams, standard work, and where digital tools help – and where they do not.",
        },
        {
            "zh": "先精益，后数字化。课程用一天时间带班组长绘制本班组的价值流图，找出浪费，再判断哪些改善适合"
            "借助数字化工具。",
            "en": "Lean first, digital second. In one day team leaders map the value stream of their own team, find "
            "the waste and decide which improvements a digital tool really helps with.",
        },
        {
            "zh": "- 绘制本班组的价值流图\n- 编写一份标准作业\n- 判断数字化工具的适用场景",
            "en": "- Map your team's value stream\n- Write a standard work sheet\n- Judge where digital tools fit",
        },
        {"zh": "无。", "en": "None."},
        {"zh": "班组长、车间主任和精益专员。", "en": "Team leaders, shop-floor supervisors and lean coordinators."},
    ),
]

# Venues: city, time zone, original language, room per language. The Stuttgart room is English only.
VENUES = [
    (
        "Suzhou",
        "Asia/Shanghai",
        "zh",
        {"zh": "苏州工业园区培训中心 B 厅", "en": "Suzhou Industrial Park Training Centre, Hall B"},
    ),
    (
        "Shanghai",
        "Asia/Shanghai",
        "zh",
        {"zh": "临港智能制造学院 3.12 教室", "en": "Lingang Smart Manufacturing Academy, Room 3.12"},
    ),
    ("Shenzhen", "Asia/Shanghai", "zh", {"zh": "南山自动化实验室", "en": "Nanshan Automation Lab"}),
    ("Stuttgart", "Europe/Berlin", "en", {"en": "Training Centre Vaihingen, Room 2", "zh": ""}),
]

# Internal notes of the training office on a run, by mode (the first run of each course has them).
RUN_NOTES = {
    "in_person": {
        "zh": "场地已预订至 18:00。实训设备由合作企业提供，开课前一天需确认运抵。",
        "en": "The room is booked until 18:00. The training equipment is on loan from a member company: "
        "confirm its delivery the day before the start.",
    },
    "online": {
        "en": "Send the link to the virtual classroom the day before the first meeting; the trainer records "
        "no sessions.",
        "zh": "第一次课前一天发送虚拟教室链接；培训师不录制课程。",
    },
    "blended": {
        "en": "Day one online, day two at the venue: book the lab for the second day only.",
        "zh": "第一天线上、第二天线下：只需预订第二天的实验室。",
    },
}
