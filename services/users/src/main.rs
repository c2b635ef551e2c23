fn main() -> std::process::ExitCode {
    service_kit::main::<users::Users>()
}
