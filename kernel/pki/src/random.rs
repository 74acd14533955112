//! Randomness, from the ring provider's system RNG (no global rustls provider assumed).

use rcgen::SerialNumber;

use crate::PkiError;

/// Fills `buf` with cryptographically secure random bytes.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), PkiError> {
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(buf)
        .map_err(|_| PkiError::Random)
}

/// A random, positive 127-bit certificate serial number.
pub(crate) fn serial_number() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    fill(&mut bytes)?;
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

/// `n` random bytes, hex encoded.
pub(crate) fn hex(n: usize) -> Result<String, PkiError> {
    let mut bytes = vec![0u8; n];
    fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
