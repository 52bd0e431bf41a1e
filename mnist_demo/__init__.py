"""mnist-demo: a hands-on MNIST demo. The engine (this package minus `app`) never imports gradio."""

__version__ = "0.1.0"
