import CCharRNNHeader

/// The library's version ("0.4.0"), from the macros in include/charrnn.h: the one place it is written.
public let charrnnVersion: String = CHARRNN_VERSION_STRING
