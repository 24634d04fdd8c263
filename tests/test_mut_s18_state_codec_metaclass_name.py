"""The state encoding's refusal of a class with a metaclass of its own names it without running the metaclass (helper
mut18, session 17; a hand mutant of session 16's line in ``engine/core/state_codec.py``).

Since session 17 ``encode_state`` names such a class through ``rejects.class_qualname`` (``type``'s own
``__qualname__`` slot), as the command side does.  A metaclass may answer ``cls.__qualname__`` with code of its own (here its
``__getattribute__`` raises): reading ``kind.__qualname__`` (the mutant) raised the metaclass's error instead of the ``CodecError``
every caller of the encoding expects (review13_1: nothing of a hostile class is run).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core.state_codec import CodecError, encode_state


class RaisingQualname(type):
    def __getattribute__(cls, name: str) -> object:
        if name == "__qualname__":
            raise ValueError("__qualname__ read")
        return super().__getattribute__(name)


class Hostile(metaclass=RaisingQualname):
    pass


def test_a_class_with_a_raising_qualname_property_is_refused_by_its_own_name() -> None:
    with pytest.raises(CodecError, match=r"'Hostile' \(its class has a metaclass of its own\) is not state"):
        encode_state([1, Hostile()])
