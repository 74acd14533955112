//! kmicro's cluster PKI (to be written).
