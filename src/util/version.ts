// The program version, printed by `ukv version` and `ukv --version`.
export const ukvVersion = "0.1.0";
