fn main() -> std::process::ExitCode {
    service_kit::main::<activities::Activities>()
}
