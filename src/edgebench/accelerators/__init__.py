"""What runs a model besides the CPU, set up and probed without importing any framework.

- vulkan.py: a Vulkan device for LiteRT's GPU accelerator (WebGPU over Vulkan): the system's
  (a real GPU's driver), else a software one, Mesa's lavapipe, that `edgebench tools install
  vulkan-cpu` fetches from Debian's backports (always marked as a software device).

LiteRT's NPU vendor plugins, their SDKs and the OpenVINO that Intel's plugin links are in
compilers/tflite/npu.py, with the compile step that needs them.

The runtimes that use them live with their compiler (compilers/tflite/accelerated.py).
"""
