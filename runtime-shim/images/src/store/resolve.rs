//! Which image a user's or a pod's reference names.

use crate::digest::Digest;
use crate::error::Error;
use crate::reference::ImageRef;
use crate::store::ImageRecord;

pub(crate) fn find(records: &[ImageRecord], reference: &str) -> Result<Option<ImageRecord>, Error> {
    let text = reference.trim();
    // A bare digest: image ID, manifest or index digest.
    if text.starts_with("sha256:") {
        let digest = Digest::parse(text)?;
        return Ok(records.iter().find(|r| has_digest(r, &digest)).cloned());
    }
    // A name, by tag or by digest.
    if let Ok(parsed) = ImageRef::parse(text) {
        if let Some(digest) = &parsed.digest {
            let repo_digest = parsed.with_digest_name(digest);
            let found = records
                .iter()
                .find(|r| r.repo_digests.contains(&repo_digest))
                .or_else(|| records.iter().find(|r| has_digest(r, digest)));
            if let Some(found) = found {
                return Ok(Some(found.clone()));
            }
        } else if let Some(name) = parsed.tagged_name()
            && let Some(found) = records.iter().find(|r| r.names.contains(&name))
        {
            return Ok(Some(found.clone()));
        }
    }
    // An image ID, whole or a prefix of at least 3 hex digits.
    if text.len() >= 3 && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let prefix = text.to_ascii_lowercase();
        let matches: Vec<&ImageRecord> = records
            .iter()
            .filter(|r| r.config_digest.hex().starts_with(&prefix))
            .collect();
        return match matches.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some((*one).clone())),
            many => Err(Error::Ambiguous {
                prefix: text.to_owned(),
                candidates: many.iter().map(|r| r.config_digest.to_string()).collect(),
            }),
        };
    }
    // Not a name and not an ID: report why it is not a name.
    ImageRef::parse(text)?;
    Ok(None)
}

fn has_digest(record: &ImageRecord, digest: &Digest) -> bool {
    record.config_digest == *digest
        || record.manifest_digest == *digest
        || record.index_digests.contains(digest)
}
