"""Running trained echo networks on users' data: checked datalists, inference inputs, bundle helpers.

Modules are imported directly (``echo_monai.inference.views``, ``echo_monai.inference.datalist``, ...),
so importing this package stays cheap and loads no network or bundle code.
"""
