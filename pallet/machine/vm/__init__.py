"""Local VMs: the Debian image builder (image.py) and the qemu launcher (qemu.py)."""
