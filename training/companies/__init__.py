"""Member companies: companies, their coordinators and people, reserved seats
and the company report. Built on accounts, catalogue, enrolment, attendance
and certificates; nothing below imports this package."""
