"""Echo study MONAI Deploy application; :mod:`apps.echo_study_app.pipeline` is usable without the SDK."""
