"""``python -m stc_gpu.cli`` (and ``torchrun ... -m stc_gpu.cli``): the ``stc-gpu`` command."""
from stc_gpu.cli import main

main()
