"""echo_monai: echocardiography on MONAI."""

__version__ = "0.1.0"
