//! Mutation: the baseline's defaults as RFC 6902 JSON patches (filled in by the mutation work).

use serde::{Deserialize, Serialize};

/// Which defaults the mutating webhook applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MutationConfig {}
