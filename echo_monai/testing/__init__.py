"""Test support shipped with the package: the bad-input corpus and the patient-identifier scanner."""

from echo_monai.testing.corpus import BadCase, make_bad_corpus, write_valid_cine
from echo_monai.testing.phi import IdentifierHit, find_identifiers, load_fake_identifiers

__all__ = ["BadCase", "IdentifierHit", "find_identifiers", "load_fake_identifiers", "make_bad_corpus",
           "write_valid_cine"]
