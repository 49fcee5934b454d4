"""asgi_wsgi: streaming, concurrent WSGI-to-ASGI and ASGI-to-WSGI adapters."""

from asgi_wsgi.__about__ import __version__ as __version__
from asgi_wsgi.asgi_to_wsgi import AsgiToWsgi as AsgiToWsgi
from asgi_wsgi.wsgi_to_asgi import ClientDisconnected as ClientDisconnected
from asgi_wsgi.wsgi_to_asgi import WsgiToAsgi as WsgiToAsgi
from asgi_wsgi.wsgi_to_asgi import WsgiToAsgiInstance as WsgiToAsgiInstance

__all__ = ("AsgiToWsgi", "ClientDisconnected", "WsgiToAsgi", "WsgiToAsgiInstance", "__version__")
