"""For the test suites of code that uses AWS KMS: a real OpenKMS server in a test run.

:mod:`openkms.testing.server` starts and stops ``openkms serve --dev`` processes;
:mod:`openkms.testing.pytest_plugin` is the pytest plugin (fixtures ``openkms_server``,
``openkms_endpoint``, ``kms_client``, ``openkms_reset``, ``openkms_aws_env``) that
``pip install openkms`` registers. This layer talks to the server as any client does,
over HTTP: it imports nothing else of OpenKMS.
"""
