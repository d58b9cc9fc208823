"""The digest check the signer's panel gives is a command that works: run here on the files as downloaded.

The page once said ``gost12sum -l 256 <файл>``; Debian's gost12sum reads ``-l`` as 512 bits and ``256`` as a
file name, so no digest ever matched. The commands now come with each file in the document detail, and the Linux
one is run in a folder holding the downloaded file under its own (awkward) name. CryptoPro's cpverify cannot run
here: its line is checked for the switches that give the page's byte order.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from server.workflow.digest_commands import digest_commands
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok

DEAL = ("deal", 1)
FILES = {
    "Договор поставки №17.pdf": b"%PDF-1.7\n" + "Договор поставки №17".encode() + b"\n%%EOF\n",
    "акт 'сверки' $(touch pwned) ; rm.pdf": b"%PDF-1.7\nact\n%%EOF\n",
    "-l.pdf": b"%PDF-1.7\nstarts with a dash\n%%EOF\n",
}


def test_the_shown_linux_command_prints_the_shown_digest_for_the_downloaded_file(kd: Klikdok, tmp_path: Path) -> None:
    doc_id = kd.create(MANAGER, DEAL, FILES, [DIRECTOR])
    detail = kd.api("GET", f"/documents/{doc_id}", DIRECTOR).json()
    assert sorted(f["name"] for f in detail["files"]) == sorted(FILES)
    for f in detail["files"]:
        folder = tmp_path / str(f["id"])
        folder.mkdir()
        download = kd.api("GET", f"/documents/{doc_id}/files/{f['id']}/content", DIRECTOR)
        assert download.status_code == 200, download.text
        (folder / f["name"]).write_bytes(download.content)
        command = f["digest_commands"]["linux"]
        assert "-l" not in command.split()[:2]
        out = subprocess.run(["bash", "-c", command], cwd=folder, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, (command, out.stderr)
        assert out.stdout.split()[0].lower() == f["streebog256"].lower(), (command, out.stdout)
        assert sorted(p.name for p in folder.iterdir()) == [f["name"]]  # the name ran nothing
        windows = f["digest_commands"]["windows"]
        assert windows.startswith("cpverify -mk -alg GR3411_2012_256 -inverted_halfbytes 0 ")


def test_a_name_with_quotes_or_a_leading_dash_stays_one_argument() -> None:
    assert shutil.which("gost12sum")
    assert digest_commands("-l.pdf")["linux"] == "gost12sum ./-l.pdf"  # not read as the option -l
    assert digest_commands('a "b".pdf')["windows"].endswith('"a b.pdf"')
