"""What a notebook needs on Colab once the package is installed: Google Drive mounted for the data.

The notebooks' first cell (written by ``tools/sync_project.py``) installs the
package on Colab, and every chapter's set-up call starts with :func:`mount_drive`;
anywhere else both are no-ops, so the same notebook runs unchanged on a laptop,
in CI and on Colab.
"""

from __future__ import annotations

import sys
from pathlib import Path

DRIVE = "/content/drive"


def mount_drive(data_root: str | Path | None) -> bool:
    """Mount Google Drive at /content/drive on Colab when ``data_root`` is on it; True when it mounted."""
    if "google.colab" not in sys.modules or not str(data_root or "").startswith(DRIVE + "/"):
        return False
    from google.colab import drive  # exists on Colab only

    drive.mount(DRIVE)
    return True
