package wcoord.streams;

/** What happened to one mutation (semantics.md: outcome classes). */
final class Decision {
  enum Outcome {
    APPLIED("applied"), STALE("stale"), CONFLICT("conflict"), INVALID("invalid");

    final String text;

    Outcome(String text) {
      this.text = text;
    }
  }

  enum Result {
    CREATED("created"), UPDATED("updated"), DELETED("deleted"), NOT_FOUND("not_found");

    final String text;

    Result(String text) {
      this.text = text;
    }
  }

  Outcome outcome;
  int status;
  long version;
  long currentVersion = -1;
  Result result;
  String errorType;
  String errorReason;

  static Decision invalid(String type, String reason) {
    Decision d = new Decision();
    d.outcome = Outcome.INVALID;
    d.status = 400;
    d.errorType = type;
    d.errorReason = reason;
    return d;
  }

  static Decision validationFailure(String type, String message) {
    return invalid(type, "Validation Failed: 1: " + message + ";");
  }
}
