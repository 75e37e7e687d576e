"""Build hyperkit's C++/CUDA kernels with CMake.

Environment variables read at build time:
  HYPERKIT_CUDA        auto (default) | on | off   build the CUDA module
  HYPERKIT_ARCH_FLAGS  CPU code-generation flags; default "-march=native" (fastest on the
                       building machine). Set it to "" for a portable build (e.g. a wheel).
  HYPERKIT_SANITIZE    e.g. "address" to build with AddressSanitizer (development only)
  HYPERKIT_BUILD_TYPE  Release (default) or Debug / RelWithDebInfo
"""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """Configure and build the whole CMake project once; it writes every module.

    hyperkit._C is always built. hyperkit._C_cuda only when CMake builds it (a CUDA
    compiler was found, or HYPERKIT_CUDA=on); otherwise it is dropped from the list
    so that setuptools does not look for it.
    """

    def build_extensions(self) -> None:
        self._cmake(Path(self.get_ext_fullpath(self.extensions[0].name)).parent.resolve())
        self.extensions = [e for e in self.extensions
                           if Path(self.get_ext_fullpath(e.name)).exists()]

    def _cmake(self, out_dir: Path) -> None:
        import pybind11

        build_temp = Path(self.build_temp).resolve() / "cmake"
        build_temp.mkdir(parents=True, exist_ok=True)
        cfg = os.environ.get("HYPERKIT_BUILD_TYPE", "Release")
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DCMAKE_BUILD_TYPE={cfg}",
            f"-DHYPERKIT_CUDA={os.environ.get('HYPERKIT_CUDA', 'auto')}",
            f"-DHYPERKIT_ARCH_FLAGS={os.environ.get('HYPERKIT_ARCH_FLAGS', '-march=native')}",
            f"-DHYPERKIT_SANITIZE={os.environ.get('HYPERKIT_SANITIZE', '')}",
        ]
        try:
            import ninja  # noqa: F401  (the pip package puts ninja on PATH)

            args.append("-GNinja")
        except ImportError:
            pass
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        # A failed configure or compile raises CalledProcessError after CMake has printed
        # the compiler's own error message, which pip shows.
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_temp), *args], check=True)
        subprocess.run(["cmake", "--build", str(build_temp), "--parallel", jobs], check=True)


setup(
    ext_modules=[CMakeExtension("hyperkit._C"), CMakeExtension("hyperkit._C_cuda")],
    cmdclass={"build_ext": CMakeBuild},
)
