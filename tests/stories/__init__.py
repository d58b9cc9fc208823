"""Each role's story through the pages in headless Chromium, at 1280 and 390 px (issue 15)."""
