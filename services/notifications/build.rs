// `sqlx::migrate!` embeds the migrations at compile time: rebuild when one is
// added or changed (what `sqlx migrate build-script` writes). The release
// binary is linked with the functions it runs placed together (crates/link-order).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    link_order::order_release_binaries(std::path::Path::new("../../link-order.txt"));
}
