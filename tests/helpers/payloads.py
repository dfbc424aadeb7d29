"""Hostile strings that the pages must show as text, never render."""

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "</script><script>window.__pwned=1</script>"

#: Markdown and HTML images pointing at a documentation address (TEST-NET-3): a page that renders either
#: asks that host for it.
MD_IMG = "![x](http://203.0.113.9/p.png)"
HTML_IMG = "<img src=http://203.0.113.9/q.png>"
