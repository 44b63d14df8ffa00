//! Which recorded calls `verify` may send again: the read-only operations of the model, and no
//! others unless asked for by name.
//!
//! Read-only is read from the model's names (`Describe*`, `Get*`, `List*`), the convention every
//! SSM operation follows, less the few among them that hand out credentials or are meant for
//! the SSM Agent. This is the one place that decides; nothing else sends a recorded call.

use crate::aws::model::Operation;

/// Read-only by name, but never sent: they return credentials, or serve the SSM Agent.
const NEVER_SENT: [&str; 2] = [
    // A credential set for just-in-time node access.
    "GetAccessToken",
    // For the AWS-RunPatchBaseline document on a node: a presigned snapshot URL.
    "GetDeployablePatchSnapshotForInstance",
];

/// Why a recorded call is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// It changes something (not `Describe*`, `Get*` or `List*`).
    Mutating,
    /// It returns credentials or serves the agent.
    Excluded,
    /// The model has no such operation.
    Unknown,
}

impl NotSent {
    /// Why, for a report.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Mutating => "not a read-only operation (send it with --allow)",
            Self::Excluded => "returns credentials or serves the SSM Agent (send it with --allow)",
            Self::Unknown => "not an operation of this build's model",
        }
    }
}

/// Whether `operation` may be sent, `allowed` naming the operations sent on purpose.
pub fn may_send(operation: &str, allowed: &[String]) -> Result<(), NotSent> {
    if Operation::named(operation).is_none() {
        return Err(NotSent::Unknown);
    }
    if allowed.iter().any(|name| name == operation) {
        return Ok(());
    }
    if NEVER_SENT.contains(&operation) {
        return Err(NotSent::Excluded);
    }
    if ["Describe", "Get", "List"]
        .iter()
        .any(|prefix| operation.starts_with(prefix))
    {
        Ok(())
    } else {
        Err(NotSent::Mutating)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::ssm;

    #[test]
    fn reads_are_sent_writes_and_credentials_are_not_unless_allowed() {
        let none: &[String] = &[];
        for read in ["DescribeParameters", "GetParameter", "ListCommands"] {
            assert_eq!(may_send(read, none), Ok(()), "{read}");
        }
        for write in [
            "DeregisterTaskFromMaintenanceWindow",
            "PutParameter",
            "SendCommand",
        ] {
            assert_eq!(may_send(write, none), Err(NotSent::Mutating), "{write}");
        }
        assert_eq!(may_send("GetAccessToken", none), Err(NotSent::Excluded));
        assert_eq!(may_send("GetWidget", none), Err(NotSent::Unknown));
        let allowed = ["PutParameter".to_owned(), "GetAccessToken".to_owned()];
        assert_eq!(may_send("PutParameter", &allowed), Ok(()));
        assert_eq!(may_send("GetAccessToken", &allowed), Ok(()));
    }

    #[test]
    fn the_allow_list_is_the_models_reads_less_the_two_excluded() {
        let sent = (ssm().operations())
            .filter(|op| may_send(op.as_str(), &[]).is_ok())
            .count();
        // 80 Describe/Get/List operations in botocore 1.44.8's model.
        assert_eq!(sent, 78);
        for excluded in NEVER_SENT {
            assert!(
                Operation::named(excluded).is_some(),
                "{excluded} is in the model"
            );
        }
    }
}
