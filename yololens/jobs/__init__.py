"""Jobs: one module per command that runs compute, writes files under ``--out`` and returns a typed result.

A job may use every layer below it (engine, seg, store, analysis, figures); nothing below imports a job.
The report (:mod:`yololens.report`) composes the jobs and sits above them; the CLI sits on top.
"""
