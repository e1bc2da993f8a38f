/** SIIT (RFC 7915) datapath core: pure translation over byte buffers. */
export { Eamt } from "./addr/eamt.ts";
export {
  type AddressMapper,
  Flow,
  MAP_DST_FAIL,
  MAP_OK,
  MAP_PROHIBITED,
  MAP_SRC_FAIL,
  SiitAddressMapper,
} from "./addr/mapper.ts";
export { isNonGlobal4, Rfc6052Prefix } from "./addr/rfc6052.ts";
export {
  type CompiledSiitConfig,
  compileSiitConfig,
  type EamtEntry,
  prefixBytes,
  type SiitConfig,
} from "./config.ts";
export { DropReason, dropReasonName, Verdict } from "./result.ts";
export { Side, SiitTranslator, type TranslatorOptions } from "./translator.ts";
