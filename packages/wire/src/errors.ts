// The ACS error body (swagger CommunicationErrorResponse). Every non-2xx answer from Natter carries one.

export interface CommunicationError {
  code: string;
  message: string;
  target?: string;
  details?: CommunicationError[];
  innererror?: CommunicationError;
}

export interface CommunicationErrorResponse {
  error: CommunicationError;
}

/** Content-Type of every JSON response (the SDK parses only application/json bodies). */
export const JSON_CONTENT_TYPE = "application/json; charset=utf-8";
