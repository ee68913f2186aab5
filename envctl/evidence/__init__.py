"""Evidence for Quality: the IQ protocol, run and report, drift, the configuration-state report and the
environment diff (issue 11). The PDF documents share one toolkit, :mod:`envctl.evidence.pdf`."""
