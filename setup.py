# SPDX-License-Identifier: Apache-2.0
"""Builds gearshift: the pure-Python package plus the C++ runtime extension.

CMakeLists.txt is the only build description; this file only drives it
(as in pybind11's cmake_example). Two knobs pass through from the
environment: CMAKE_ARGS (extra -D options) and GEARSHIFT_BOARD (a board
profile name, used by cross builds).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What `gearshift build` needs besides the Python package itself to build the
# runtime for a board from an installed copy (no git clone): shipped as
# gearshift/_src, laid out as in the repository (python/gearshift/build.py
# unpacks it). The board profiles and toolchain files are gearshift._boards.
SOURCE_FILES = [
    "CMakeLists.txt",
    "setup.py",
    "pyproject.toml",
    "README.md",
    "python/gearshift/_core.cc",
    "python/gearshift/_shift.cc",
    "scripts/fetch_sysroot.sh",
    "scripts/fetch_target_python.sh",
]
SOURCE_DIRS = ["runtime_cpp/include", "runtime_cpp/src", "runtime_cpp/tools"]


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_temp = Path(self.build_temp) / "cmake"
        build_temp.mkdir(parents=True, exist_ok=True)
        cfg = "Debug" if self.debug else "Release"
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DCMAKE_BUILD_TYPE={cfg}",
            "-DGEARSHIFT_BUILD_PYTHON=ON",
            "-DGEARSHIFT_BUILD_TOOLS=OFF",
        ]
        try:
            import pybind11

            args.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except ImportError:
            pass
        try:
            import ninja  # noqa: F401

            args.append("-GNinja")
        except ImportError:
            pass
        args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        board = os.environ.get("GEARSHIFT_BOARD")
        if board:
            args.append(f"-DGEARSHIFT_BOARD={board}")
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_temp), *args], check=True)
        subprocess.run(
            ["cmake", "--build", str(build_temp), "--target", "_core", "-j", jobs], check=True
        )


class BuildPyWithSources(build_py):
    """build_py, plus the runtime sources copied into gearshift/_src."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs from the tree itself
        dest = Path(self.build_lib) / "gearshift" / "_src"
        shutil.rmtree(dest, ignore_errors=True)
        for rel in SOURCE_FILES:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
        for rel in SOURCE_DIRS:
            shutil.copytree(
                ROOT / rel, dest / rel, ignore=shutil.ignore_patterns("__pycache__", "*.o")
            )


setup(
    packages=[
        "gearshift",
        "gearshift.converters",
        "gearshift.converters.passes",
        "gearshift.converters.train",
        "gearshift._boards",
        "gearshift.schemas",  # data only: the bench JSON schema (docs/BENCH.md)
    ],
    package_dir={
        "gearshift": "python/gearshift",
        "gearshift.converters": "converters",
        "gearshift._boards": "boards",  # board profiles and toolchain files (data only)
    },
    package_data={
        "gearshift.schemas": ["*.json"],
        "gearshift._boards": ["*.toml", "toolchains/*.cmake"],
    },
    ext_modules=[CMakeExtension("gearshift._core")],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPyWithSources},
    zip_safe=False,
)
