"""`apdraw serve`: a small web UI and HTTP API over :class:`apdraw.pipeline.PortraitPipeline`.

* :mod:`apdraw.web.formats`: the output formats (``png`` today; SVG and G-code join the
  :data:`~apdraw.web.formats.FORMATS` registry when the vectoriser lands).
* :mod:`apdraw.web.service`: the bounded work queue, its worker thread and the models it
  builds once per style.
* :mod:`apdraw.web.app`: :func:`~apdraw.web.app.create_app`, the FastAPI application
  (needs the ``web`` extra: ``pip install 'apdraw[web]'``).
* ``static/index.html``: the one page, with inline CSS and JavaScript; it loads nothing
  from any other host.

See docs/WEB.md.
"""
