// Connection strings (`endpoint=https://host/;accesskey=<base64>`) and the argument rules of the
// identity-style clients (connection string, or endpoint + credential; endpoint must have no path).
import type { KeyCredential, TokenCredential } from "./key-credential.js";
import { AzureKeyCredential, isKeyCredential, isTokenCredential } from "./key-credential.js";

/** The parts of a connection string. */
export interface EndpointCredential {
  /** The endpoint URL. */
  endpoint: string;
  /** The access key as a KeyCredential. */
  credential: KeyCredential;
}

const CONNECTION_STRING = /endpoint=(.*);accesskey=(.*)/i;

/**
 * Parses `endpoint=...;accesskey=...` (keys case-insensitive). Throws "Invalid connection string ..." otherwise.
 * @param connectionString - The connection string.
 */
export const parseConnectionString = (connectionString: string): EndpointCredential => {
  const match = CONNECTION_STRING.exec(connectionString);
  if (match?.[1] && match[2]) return { endpoint: match[1], credential: new AzureKeyCredential(match[2]) };
  throw new Error(`Invalid connection string ${connectionString}`);
};

/**
 * Whether a URL is an http(s) origin with no path other than "/".
 * @param endpoint - The URL to check.
 */
export const isValidEndpoint = (endpoint: string): boolean => {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  return /^https?:$/.test(url.protocol) && url.host !== "" && (url.pathname === "" || url.pathname === "/");
};

/** The endpoint and credential resolved from a client's constructor arguments. */
export interface UrlWithCredential {
  /** The endpoint URL. */
  url: string;
  /** The credential: an access key or an Entra token credential. */
  credential: KeyCredential | TokenCredential;
}

/**
 * Resolves `(connectionString)` or `(endpoint, credential)` constructor arguments. Throws
 * "Invalid endpoint url ..." for endpoints with a path, and "Invalid connection string ..." for bad strings.
 * @param connectionStringOrUrl - A connection string, or the endpoint when a credential is given.
 * @param credentialOrOptions - A KeyCredential / TokenCredential, or the client options.
 */
export const parseClientArguments = (connectionStringOrUrl: string, credentialOrOptions?: unknown): UrlWithCredential => {
  if (isKeyCredential(credentialOrOptions) || isTokenCredential(credentialOrOptions)) {
    if (!isValidEndpoint(connectionStringOrUrl)) throw new Error(`Invalid endpoint url ${connectionStringOrUrl}`);
    return { url: connectionStringOrUrl, credential: credentialOrOptions };
  }
  const { endpoint, credential } = parseConnectionString(connectionStringOrUrl);
  if (!isValidEndpoint(endpoint)) throw new Error(`Invalid endpoint url ${endpoint}`);
  return { url: endpoint, credential };
};
