"""A deterministic demo dataset: what publishers of Jilin and the central site would push.

OCDS release packages of whole notice sequences (with planted disclosure irregularities),
e-mall and framework-agreement orders, and finance departments' penalty records, all naming
the same organisations by valid credit codes. `caigou generate` and `caigou demo` use it.
`planted-flags.json` (hub.demo.planted) names every planted irregularity by business key with
the flag code the hub must raise for it.
"""

from hub.demo.generate import DemoFiles, generate

__all__ = ["DemoFiles", "generate"]
