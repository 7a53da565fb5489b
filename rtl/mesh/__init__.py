"""2-D mesh network-on-chip: flit/header formats, the 5-port XY router and the R x C mesh generator."""
from .flit import (COORD_BITS, HEADER_BITS, Direction, Header, MeshConfig, PacketType, flit_layout,
                   make_head, unpack_flit, pack_flit)
from .link import CreditLinkSignature
from .router import Router
from .mesh import Mesh

__all__ = ["COORD_BITS", "HEADER_BITS", "Direction", "Header", "MeshConfig", "PacketType", "flit_layout",
           "make_head", "pack_flit", "unpack_flit", "CreditLinkSignature", "Router", "Mesh"]
