// The error every tandem promise rejects with: a real `Error` subclass carrying a stable,
// machine-readable `code` (see ErrorCode in the package's types).
export class TandemError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "TandemError";
    this.code = code;
  }
}
