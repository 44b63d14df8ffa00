//! The automation a user tests through ssm-vcr: the nightly clean-up deregisters the
//! patch-baseline task of the maintenance window.

use aws_sdk_ssm::Client;

/// The maintenance window the clean-up works on.
pub const WINDOW: &str = "mw-0c50858d01e8a7b6f";

/// Deregisters the window's `AWS-RunPatchBaseline` task, if it has one; its id.
pub async fn nightly_cleanup(ssm: &Client) -> Result<Option<String>, aws_sdk_ssm::Error> {
    let tasks = ssm
        .describe_maintenance_window_tasks()
        .window_id(WINDOW)
        .send()
        .await?;
    let patch = tasks
        .tasks()
        .iter()
        .find(|task| task.task_arn() == Some("AWS-RunPatchBaseline"))
        .and_then(|task| task.window_task_id());
    let Some(task) = patch else {
        return Ok(None);
    };
    ssm.deregister_task_from_maintenance_window()
        .window_id(WINDOW)
        .window_task_id(task)
        .send()
        .await?;
    Ok(Some(task.to_owned()))
}
