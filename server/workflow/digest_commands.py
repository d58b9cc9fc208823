"""The commands a signer runs to check a downloaded file's GOST R 34.11-2012 (256) digest against the page.

They live in one place, with the file's own name filled in, because the page once told people
``gost12sum -l 256 <файл>``: Debian's gost12sum reads ``-l`` as "512 bits" and ``256`` as a file name, so the
digest never matched. ``gost12sum FILE`` is 256 bits by default. CryptoPro's ``cpverify -mk`` prints the digest
with the bytes of each half-byte pair swapped unless told ``-inverted_halfbytes 0``; then it is the page's value
in capitals. The Linux command is run against real files by the tests.
"""

from __future__ import annotations

import shlex


def digest_commands(file_name: str) -> dict[str, str]:
    """{"linux": ..., "windows": ...} for a file saved under ``file_name`` in the current folder."""
    # Windows names cannot hold a double quote; a hostile name loses it rather than breaking the quoting.
    windows_name = file_name.replace('"', "")
    # A name that starts with "-" would be read as options (gost12sum uses getopt): "./" keeps it a file.
    linux_name = f"./{file_name}" if file_name.startswith("-") else file_name
    return {
        "linux": f"gost12sum {shlex.quote(linux_name)}",
        "windows": f'cpverify -mk -alg GR3411_2012_256 -inverted_halfbytes 0 "{windows_name}"',
    }
