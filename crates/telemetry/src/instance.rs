//! Which running instance this is: the host's name and the process, for the
//! resource's `service.instance.id` and the CloudWatch stream's name.

/// `service.instance.id`: host and process.
pub(crate) fn instance_id(service: &str) -> String {
    format!("{service}-{}-{}", hostname(), std::process::id())
}

/// The container's or machine's name (`HOSTNAME`, else the kernel's).
pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
