//! Offline checking of manifest files (filled in next).
