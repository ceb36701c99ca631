"""Batched multi-camera renderer (ray casting on torch): see renderer.py."""

from e2edrive.sim.render.mosaic import camera_mosaic, write_png
from e2edrive.sim.render.renderer import MAX_DEPTH, Renderer, RenderOutput

__all__ = ["MAX_DEPTH", "Renderer", "RenderOutput", "camera_mosaic", "write_png"]
