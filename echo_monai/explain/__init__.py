"""Explanations of echo networks: Captum attributions, sanity checks and anatomy-based measures."""
