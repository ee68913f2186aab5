"""envctl's live-account operations, done with boto3 around `pulumi up` of a VAL or PROD stack.

* :mod:`.session`: the one way envctl makes AWS clients (profile, region, endpoint URL, retries);
* :mod:`.clone_check`: the pre-flight check of a clone from a Pre-PROD snapshot;
* :mod:`.copy_documents`: the server-side copy of Pre-PROD's documents into the restored instances;
* :mod:`.render`: both reports as the engineer reads them in the terminal.

Every physical name comes from :mod:`components.naming`, as the Pulumi program makes it.
"""
