#!/usr/bin/env python
"""Write a synthetic echo dataset: thin front end of ``echo_monai.synthetic.cli`` (``echo-make-synthetic``).

Example::

    python data_scripts/make_synthetic_dataset.py --out /tmp/synth --patients 10 --clips-per-view 20 \
        --frames 48 --size 256 --seed 0 --hmcqu 6
"""

from echo_monai.synthetic.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
