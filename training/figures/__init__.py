"""Figures: the glossary of report metrics (``metrics``) and the summary
tables that keep them fast at scale (``summaries``).

A read model over enrolment, attendance and certificates, below the packages
that show figures (companies, reports, api): they all compute every rate with
these functions, so the same filter gives the same numbers on every page, in
every export and in the API.
"""
