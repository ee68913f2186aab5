"""Evidence for Quality (issue 11): the Installation Qualification (IQ) of an installed stack against its approved
desired state, drift, the configuration-state report and the environment diff.

:mod:`.state` reads what Pulumi installed (`pulumi stack export`), :mod:`.protocol` derives what must be verified
from the stack's offline plan, :mod:`.readback` reads the live account back through boto3, :mod:`.iq` compares
and writes the report and its evidence bundle, :mod:`.drift` is the same comparison at any later time. The PDF
documents share one toolkit, :mod:`.pdf`; :mod:`.config_report` and :mod:`.diff` make `envctl report` and `diff`.
"""
