"""`make run` without a real portal: the launcher (``python -m demo.launcher``) and the Bitrix24 portal emulator.

The emulator is a real HTTP server speaking the portal's documented REST, OAuth and frame protocols; the test
suites use it as their portal too and import it from here. Around it, what makes the demo story complete:
the demo GOST PKI (``pki``, people from ``demo_people``), the signers' certificate registration (``enrol``),
the mail catcher and its inbox pages (``mail_catcher``, ``mail_pages``), and the commands a person runs while
the demo is up: ``python -m demo.agent WHO`` and ``python -m demo.sign WHO FILE`` (``demo_state`` tells them
where it runs). Nothing here is shipped in the .deb, and the server, the agent, ``cades`` and ``common`` never
import it (import-linter contract in pyproject.toml).
"""
