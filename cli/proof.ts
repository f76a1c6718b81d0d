// The identity proof is made by lambda/auth/sign.ts, shared with the session verifier.
export { identityProof } from '../lambda/auth/sign';
