"""Map the top-level folders onto ONE package, ``spikemesh.<folder>``, including nested subpackages."""
from setuptools import find_packages, setup

ROOTS = ("rtl", "gen", "sim", "boards", "firmware")

packages: list[str] = []
for root in ROOTS:
    packages.append(f"spikemesh.{root}")
    packages += [f"spikemesh.{root}.{sub}" for sub in find_packages(root)]

setup(packages=packages, package_data={f"spikemesh.{r}": ["**/*.py", "**/*.v", "**/*.json", "**/*.cpp", "**/*.md"] for r in ROOTS})
