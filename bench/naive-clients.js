// The like-for-like baseline of the bench: what the vending bundle does at load, from the unbundled SDK.
'use strict';
const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { STSClient } = require('@aws-sdk/client-sts');
module.exports = [new DynamoDBClient({}), new STSClient({})];
